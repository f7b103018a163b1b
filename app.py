"""Residual Explorer: `streamlit run app.py`. A router only: the pages live in explorer/ui/pages/."""
import streamlit as st

from explorer.ui.common import PAGES, sidebar

st.set_page_config(page_title="Residual Explorer", page_icon=":material/stacked_line_chart:", layout="wide")

pages = [
    st.Page(PAGES["overview"], title="Overview", icon=":material/home:", default=True),
    st.Page(PAGES["runs"], title="Runs", icon=":material/table_rows:"),
    st.Page(PAGES["train"], title="Train", icon=":material/model_training:"),
    st.Page(PAGES["curves"], title="Curves", icon=":material/show_chart:"),
    st.Page(PAGES["gradients"], title="Gradients", icon=":material/gradient:"),
    st.Page(PAGES["separability"], title="Separability", icon=":material/scatter_plot:"),
    st.Page(PAGES["mechanisms"], title="Mechanisms", icon=":material/biotech:"),
    st.Page(PAGES["verdict"], title="Verdict", icon=":material/gavel:"),
]
# Tags of multiselects show the whole run label (Streamlit cuts them at a fixed width by default).
st.markdown("<style>[data-testid='stMultiSelectTagsContainer'] [data-tag] {max-width: 100% !important; "
            "height: auto !important;} [data-testid='stMultiSelectTagsContainer'] [data-tag] span[title] "
            "{max-width: none !important; white-space: normal !important; overflow: visible !important; "
            "text-overflow: clip !important;}</style>", unsafe_allow_html=True)
page = st.navigation(pages)
st.session_state["selected_runs"] = sidebar()
page.run()
