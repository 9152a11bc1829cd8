from tent.cli import main

main()
