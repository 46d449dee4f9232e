"""Entry point: the payment service's web process."""

from service_kit.main import main as _main


def main() -> None:
    _main(["payment", "web"])


if __name__ == "__main__":
    main()
