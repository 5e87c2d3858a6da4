from tallyproof.cli import main

main()
