"""Entry point: the inventory service's relay process."""

from service_kit.main import main as _main


def main() -> None:
    _main(["inventory", "relay"])


if __name__ == "__main__":
    main()
