"""A spread expert with another convention: agents in index order each take the nearest landmark not yet taken
(no total-distance sharing), steered by the world experts' planner. Writes through the standalone writer."""
import sys
ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench")); sys.path.insert(0, str(ROOT))
import numpy as np
import world_experts as W

def greedy(world, continuous):
    agents, landmarks = world.agents, [lm.state.p_pos for lm in world.landmarks]
    free = list(range(len(landmarks)))
    paths = [W.coasting(world, W.body(a)) for a in agents]
    actions = {}
    for i, a in enumerate(agents):
        j = min(free, key=lambda k: np.linalg.norm(a.state.p_pos - landmarks[k]))
        free.remove(j)
        actions[a.name] = W.drive(world, a, landmarks[j], continuous, squared=False,
                                  others=[p for k, p in enumerate(paths) if k != i])
    return actions

W.EXPERTS["simple_spread_v3"] = greedy
W.main()
