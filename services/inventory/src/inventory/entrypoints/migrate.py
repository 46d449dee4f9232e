"""Entry point: the inventory service's migrate process."""

from service_kit.main import main as _main


def main() -> None:
    _main(["inventory", "migrate"])


if __name__ == "__main__":
    main()
