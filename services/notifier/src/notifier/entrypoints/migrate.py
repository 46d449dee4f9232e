"""Entry point: the notifier service's migrate process."""

from service_kit.main import main as _main


def main() -> None:
    _main(["notifier", "migrate"])


if __name__ == "__main__":
    main()
