"""Entry point: the inventory service's worker process."""

from service_kit.main import main as _main


def main() -> None:
    _main(["inventory", "worker"])


if __name__ == "__main__":
    main()
