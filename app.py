"""Residual Explorer: `streamlit run app.py`. A router only: the pages live in explorer/ui/pages/ and are
registered once in explorer/ui/navigation.py; the sidebar returns the typed selection every page draws."""
import streamlit as st

from explorer.ui.common import Selection, advance_jobs, guarded, sidebar, store_selection
from explorer.ui.navigation import PAGES

st.set_page_config(page_title="Residual Explorer", page_icon=":material/stacked_line_chart:", layout="wide")

pages = [st.Page(p.path, title=p.title, icon=p.icon, default=p.default) for p in PAGES]
# Tags of multiselects show the whole run label (Streamlit cuts them at a fixed width by default).
st.markdown("<style>[data-testid='stMultiSelectTagsContainer'] [data-tag] {max-width: 100% !important; "
            "height: auto !important;} [data-testid='stMultiSelectTagsContainer'] [data-tag] span[title] "
            "{max-width: none !important; white-space: normal !important; overflow: visible !important; "
            "text-overflow: clip !important;} [data-testid='stMultiSelect'] [role='group'], "
            "[data-testid='stMultiSelectTagsContainer'] {max-height: none !important; overflow: visible !important;}"
            "</style>", unsafe_allow_html=True)  # ... and every selected tag, not the first three in a scroll box
page = st.navigation(pages)
advance_jobs()  # queued training jobs advance on a timer, whatever page is open
store_selection(guarded(sidebar)() or Selection())  # a sidebar that fails says so in one line; the page draws
page.run()
