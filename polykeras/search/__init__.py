"""The learning-rate search with KerasTuner, one role a module (as KerasTuner's own `engine` and `distribute`):

- `run`: `search`, the one call (in this process, over worker processes, or
  as one process of a search across machines), and `SearchResult`;
- `resolve`: what the user passed, turned into a task once (`polykeras.tasks`
  holds the built-in ones); `user_tasks`: the tasks on a model of the user's;
  `parts`: the user's data split into training and validation parts;
- `spec`: `SearchSpec`, the search described once, which every process loads;
- `tuners`: KerasTuner's tuners and oracles with what polykeras adds;
- `progress`: what `on_trial_end` is told of each finished trial;
- `shared`: the files the processes share through the project folder, and
  what a worker trusts there;
- `supervisor`: starting, restarting, following and stopping the chief and
  the workers on this machine, an accelerator each;
- `roles`: the chief and the worker (the watchdog, the reconnecting oracle).

`polykeras.search` itself is the function (`polykeras/__init__.py` exports
it); its modules are imported by their full names, such as
`from polykeras.search import tuners`.
"""

from polykeras.search.run import SearchResult, search

__all__ = ["SearchResult", "search"]
