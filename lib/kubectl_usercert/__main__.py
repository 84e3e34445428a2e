from kubectl_usercert.cli import main

main()
