"""The files modelwise reads, validated at the edge with pydantic: the config (`config.py`, to a
`core.settings.Settings`) and the registry (`registry.py`, to a `core.models.Registry`). The core they
produce stays free of pydantic; one-line errors name the file, the entry and the field."""
