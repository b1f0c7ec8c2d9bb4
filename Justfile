# Convenience recipes; each calls the same scripts the README's two lines use.

setup:
    scripts/setup.sh test

test: setup
    .venv/bin/python -m pytest -q

slow: setup
    .venv/bin/python -m pytest -q -m slow

evolve env="cartpole" task="balance": setup
    .venv/bin/rewardsmith evolve --env {{env}} --task {{task}} --llm-free

bench: 
    scripts/setup.sh test bench
    .venv/bin/python -m rewardsmith.bench
