"""tallyproof: election results verifiable from the tally sheets up."""
