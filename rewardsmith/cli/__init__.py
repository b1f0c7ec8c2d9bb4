"""The top floor: the `rewardsmith` command (app.py and its command modules), its terminal output (ui.py, progress.py)
and the `evolve --config` TOML loader (config_file.py). Nothing below this package imports it."""
