"""Entry point: the booking service's relay process."""

from service_kit.main import main as _main


def main() -> None:
    _main(["booking", "relay"])


if __name__ == "__main__":
    main()
