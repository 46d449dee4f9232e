"""Entry point: the pricing service's web process."""

from service_kit.main import main as _main


def main() -> None:
    _main(["pricing", "web"])


if __name__ == "__main__":
    main()
