"""Entry point: the booking service's worker process."""

from service_kit.main import main as _main


def main() -> None:
    _main(["booking", "worker"])


if __name__ == "__main__":
    main()
