"""Residual Explorer: why residual connections and BatchNorm matter in deep CNNs."""
__version__ = "0.1.0"
