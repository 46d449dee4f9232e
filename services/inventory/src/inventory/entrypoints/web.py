"""Entry point: the inventory service's web process."""

from service_kit.main import main as _main


def main() -> None:
    _main(["inventory", "web"])


if __name__ == "__main__":
    main()
