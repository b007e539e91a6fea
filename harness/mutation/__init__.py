"""Mutation testing of the gate: realistic, unseeded bugs of the reference service as small source edits.

``catalogue.yaml`` lists them (each a find-and-replace on ``reference_impl/`` with the invariant it breaks);
``catalogue`` reads and applies them to a temporary copy, never to the tree; ``run`` runs the gate against
each copy and reports which checks killed it.
"""
