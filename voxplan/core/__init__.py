"""The shared vocabulary every stage imports: the model (resources, refs), the plan as data, live objects,
write-only helpers, the dependency graph, secrets and errors. No stage imports a sibling stage's helpers:
what two stages share lives here."""
