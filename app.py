"""Residual Explorer: `streamlit run app.py`."""
import streamlit as st

st.set_page_config(page_title="Residual Explorer", layout="wide")
st.title("Residual Explorer")
st.write("Why residual connections and BatchNorm matter in deep CNNs.")
