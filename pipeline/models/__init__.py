"""Model versions: the registry under ``models/<kind>/<version>/`` with its promotion guard
(``registry``), and what re-scoring a batch with another version changed (``compare``)."""
