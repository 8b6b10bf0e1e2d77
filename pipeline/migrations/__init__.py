"""Schema migrations, applied in file-name order by pipeline.store.apply_migrations.

Numbering: m0001 core; each later issue adds its own file (m0004_*, m0005_*, ...).
"""
