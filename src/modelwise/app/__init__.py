"""The use cases (routing, explaining, what-if, outcomes and learning, reports) over one context; the
service is their facade."""
