"""Readers and writers: files in and out, so that the core (arrays in, arrays out) does no I/O.

:mod:`~solarkataster.io.raster` reads surface models (GeoTIFF and anything GDAL opens),
:mod:`~solarkataster.io.pointcloud` rasterises LAS/LAZ point clouds, :mod:`~solarkataster.io.vector` reads
footprints, :mod:`~solarkataster.io.weather` reads weather files (EPW, DWD TRY, CSV),
:mod:`~solarkataster.io.tiles` scans and mosaics tile folders, :mod:`~solarkataster.io.export` writes
GeoJSON, GeoPackage and rasters, and :mod:`~solarkataster.io.atomic` replaces files atomically.
"""
