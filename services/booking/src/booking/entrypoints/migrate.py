"""Entry point: the booking service's migrate process."""

from service_kit.main import main as _main


def main() -> None:
    _main(["booking", "migrate"])


if __name__ == "__main__":
    main()
