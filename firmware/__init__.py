# Marks firmware/ as the package meteolink.firmware on CPython, so that the
# gateway imports the codec from this very tree. Not copied to a node.
