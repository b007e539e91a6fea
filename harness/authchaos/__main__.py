from authchaos.cli import main

main()
