"""Segmentation: the ordered lines of a record → documents, sections, fields and table rows.

Modules: ``config`` (data files with schema checks), ``model`` (line/row/document dataclasses),
``doctypes`` (document types and boundaries), ``sections`` (section headers), ``fields``
(key–value fields, diagnoses, vitals), ``tables`` (orders, labs, bill lines), ``record``
(one record end to end, no database), ``patient`` (salted patient key), ``claims_link``
(claims CSV ↔ bill), ``stage`` (``SegmentStage``).
"""
