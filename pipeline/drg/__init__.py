"""DRG grouping: a scheme loaded by name from data (``scheme``), the grouper that interprets it
(``engine``), the case it reads (``case``), codes checked against the scheme's 医保版 tables and
mapped from 国临版 (``codes``), a region's weights and rate (``region``)."""
