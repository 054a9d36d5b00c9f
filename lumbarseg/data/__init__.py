"""Datasets: converting annotations to COCO (``convert``), registering them with Detectron2
(``register``) and mapping records to model input (``mapper``). Nothing is imported here so
that the converter works without loading Detectron2."""
