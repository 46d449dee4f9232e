"""Entry point: the payment service's worker process."""

from service_kit.main import main as _main


def main() -> None:
    _main(["payment", "worker"])


if __name__ == "__main__":
    main()
