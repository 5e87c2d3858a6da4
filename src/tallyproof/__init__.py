"""tallyproof: election results verifiable from the tally sheets up.

The front door of the library::

    from tallyproof import Store, load_election, import_file, tabulate

    store = Store.sqlite("ve.db", create=True)
    store.init(load_election("ve2024"))
    import_file(store, Path("RESULTADOS_2024_CSV_V2.csv"))
    result = tabulate(store.election(), store.columns(), store.registry_columns(), level="state", preference=["import"])
"""

from tallyproof.election import Candidate, Card, Election, load_election
from tallyproof.errors import (
    CodecError,
    ElectionDefinitionError,
    InputError,
    StorageError,
    TallyproofError,
    UnknownError,
)
from tallyproof.sheets.qr import from_qr, to_qr
from tallyproof.sheets.sheet import Finding, Source, TallySheet, check
from tallyproof.storage.imports import derive_registry, import_file, import_registry
from tallyproof.storage.store import Store
from tallyproof.tabulate import Tabulation, tabulate

__all__ = [
    "Candidate",
    "Card",
    "CodecError",
    "Election",
    "ElectionDefinitionError",
    "Finding",
    "InputError",
    "Source",
    "StorageError",
    "Store",
    "Tabulation",
    "TallySheet",
    "TallyproofError",
    "UnknownError",
    "check",
    "derive_registry",
    "from_qr",
    "import_file",
    "import_registry",
    "load_election",
    "tabulate",
    "to_qr",
]
