"""Roof faces from surface models: segmentation into planes and publishable face polygons.

The package is split by concept:

- :mod:`.segmentation`: :func:`segment_roofs`, planar segments of the DSM inside building labels (region
  growing, coplanar merge, reassignment to local planes, robust refit);
- :mod:`.faces`: :func:`roof_faces`, faces a city can publish (whole roofs with overhangs, clean polygons that
  tile the outline, quality flags), built on the segmentation with the private modules ``_refine`` (steep
  planes the growing missed, ridge strips, stray pixels), ``_outline`` (overhangs, outlines, excluded parts)
  and ``_polygons`` (sub-pixel partition, straight boundaries, simplification, tidying);
- ``_planes`` and ``_frame``: plane fits of labelled pixels and the per-building pixel frame they work in.
"""
from .faces import BUILDING_LAYER_COLUMNS, FACE_LAYER_COLUMNS, RoofFaces, RoofOptions, roof_faces
from .segmentation import FACE_COLUMNS, MAX_FACE_TILT, RoofSegmentation, face_polygons, segment_roofs

__all__ = ["BUILDING_LAYER_COLUMNS", "FACE_COLUMNS", "FACE_LAYER_COLUMNS", "MAX_FACE_TILT", "RoofFaces",
           "RoofOptions", "RoofSegmentation", "face_polygons", "roof_faces", "segment_roofs"]
