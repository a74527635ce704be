"""Ops on images, from the columns the image readers write (``thresher.image``)."""
