"""The embedded demo: the whole pipeline offline on bundled real photos."""
