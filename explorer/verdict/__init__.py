"""The verdict on each explanation of degradation: estimates and the statistics of a contrast
(``core``), the rows read from the caches (``rows``), and BatchNorm's role tested (``batchnorm``)."""
