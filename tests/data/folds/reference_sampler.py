"""Independent Python model of data/sampler.cpp: std::mt19937_64 (as the C++ standard specifies it),
splitmix-style seed mixing, rejection-sampled uniform_below and Fisher-Yates. Prints the rank order
for the (n, seed, epoch, fold, world, rank) tuples given as arguments, one line each."""
import sys

M64 = (1 << 64) - 1


class MT19937_64:
    def __init__(self, seed):
        self.mt = [0] * 312
        self.mt[0] = seed & M64
        for i in range(1, 312):
            self.mt[i] = (6364136223846793005 * (self.mt[i - 1] ^ (self.mt[i - 1] >> 62)) + i) & M64
        self.index = 312

    def __call__(self):
        if self.index >= 312:
            for i in range(312):
                x = (self.mt[i] & 0xFFFFFFFF80000000) | (self.mt[(i + 1) % 312] & 0x7FFFFFFF)
                xa = x >> 1
                if x & 1:
                    xa ^= 0xB5026F5AA96619E9
                self.mt[i] = self.mt[(i + 156) % 312] ^ xa
            self.index = 0
        y = self.mt[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & M64


def mix_seed(a, b):
    z = (a + 0x9E3779B97F4A7C15 + ((b << 6) & M64) + (b >> 2) + b * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def uniform_below(rng, n):
    limit = M64 - (M64 % n + 1) % n
    x = rng()
    while x > limit:
        x = rng()
    return x % n


def rank_order(n, seed, epoch, fold, world, rank):
    perm = list(range(n))
    rng = MT19937_64(mix_seed(mix_seed(seed, epoch), fold + 0x51ED27))
    for i in range(n, 1, -1):
        j = uniform_below(rng, i)
        perm[i - 1], perm[j] = perm[j], perm[i - 1]
    per_rank = (n + world - 1) // world
    return [perm[(rank + j * world) % n] for j in range(per_rank)]


assert MT19937_64(5489)() == 14514284786278117030  # first output for the default seed
for spec in sys.argv[1:]:
    print(" ".join(map(str, rank_order(*map(int, spec.split(","))))))
