"""Load generator and reports (``make bench``)."""
