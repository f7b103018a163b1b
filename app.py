"""Residual Explorer: `streamlit run app.py`. A router only: the pages live in explorer/ui/pages/."""
import streamlit as st

from explorer.ui.common import PAGES, sidebar

st.set_page_config(page_title="Residual Explorer", page_icon=":material/stacked_line_chart:", layout="wide")

pages = [
    st.Page(PAGES["overview"], title="Overview", icon=":material/home:", default=True),
    st.Page(PAGES["train"], title="Train", icon=":material/model_training:"),
    st.Page(PAGES["curves"], title="Curves", icon=":material/show_chart:"),
    st.Page(PAGES["gradients"], title="Gradients", icon=":material/gradient:"),
    st.Page(PAGES["separability"], title="Separability", icon=":material/scatter_plot:"),
]
page = st.navigation(pages)
st.session_state["selected_runs"] = sidebar()
page.run()
