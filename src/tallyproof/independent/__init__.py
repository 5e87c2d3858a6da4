"""The independent side: witnesses' and observers' copies grouped by table, reconciled with the official
results, announcements checked for feasibility, the verdict and its alarms, and the inputs of audits
(hand counts of the paper, the machines' cast vote records)."""
