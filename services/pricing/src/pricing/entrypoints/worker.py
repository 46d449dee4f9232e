"""Entry point: the pricing service's worker process."""

from service_kit.main import main as _main


def main() -> None:
    _main(["pricing", "worker"])


if __name__ == "__main__":
    main()
