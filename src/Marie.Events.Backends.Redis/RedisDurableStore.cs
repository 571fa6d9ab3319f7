using Marie.Events.Broker.Storage;
using StackExchange.Redis;

namespace Marie.Events.Backends.Redis;

/// <summary>
/// Durable subscriptions' state in Redis, shared by every gateway of the cluster: per (key, name) one string key
/// <c>durable:{key/name}</c> under the key prefix holding the snapshot's bytes (<see cref="DurableSnapshot.ToBytes"/>),
/// hash-tagged by key and name so a cluster puts it on one slot, and the set <c>durables</c> listing those keys. A
/// gateway reads a durable again before its first stream there, so a client that moves to another gateway resumes
/// from what the last one saved. Its lease (one holder per durable across the gateways) is the string key
/// <c>durable-lease:{key/name}</c>, of the same hash tag so it shares the state's slot, holding the holder's id and
/// expiring with the lease's TTL: taken by <c>SET NX PX</c>, renewed and given back by scripts that first check the
/// value is the caller's.
/// </summary>
internal sealed class RedisDurableStore(IConnectionMultiplexer redis, string prefix)
{
    /// <summary>Takes the lease (KEYS[1]) for ARGV[1] for ARGV[2] ms, or extends it when ARGV[1] holds it; answers
    /// {1, holder, ttl} when taken, else {0, holder, remaining ms}.</summary>
    private const string AcquireScript = """
        local holder = redis.call('GET', KEYS[1])
        if holder == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return {1, holder, tonumber(ARGV[2])}
        end
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
          return {1, ARGV[1], tonumber(ARGV[2])}
        end
        return {0, redis.call('GET', KEYS[1]) or '', redis.call('PTTL', KEYS[1])}
        """;

    /// <summary>Compare-and-pexpire: 1 when ARGV[1] holds KEYS[1] (extended to ARGV[2] ms), else 0.</summary>
    private const string RenewScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 0
        """;

    /// <summary>Compare-and-del: removes KEYS[1] only when ARGV[1] holds it.</summary>
    private const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    private IDatabase Db => redis.GetDatabase();

    private RedisKey IndexKey => prefix + "durables";

    /// <summary>The key of (key, name); the length of the key name first keeps "a/b" + "c" apart from "a" + "b/c".
    /// </summary>
    private RedisKey StateKey(string key, string name) =>
        $"{prefix}durable:{{{key.Length}/{key}/{name}}}";

    /// <summary>The lease key of (key, name): the state key's hash tag, so both are on one slot.</summary>
    internal RedisKey LeaseKey(string key, string name) =>
        $"{prefix}durable-lease:{{{key.Length}/{key}/{name}}}";

    /// <summary>Takes (or extends) the lease for <paramref name="holder"/>: (taken, the holder's id, its remaining
    /// milliseconds).</summary>
    public async Task<(bool Taken, string Holder, long RemainingMs)> AcquireAsync(string key, string name,
        string holder, long ttlMs)
    {
        var result = (RedisResult[])(await Db.ScriptEvaluateAsync(AcquireScript, [LeaseKey(key, name)],
            [holder, ttlMs]).ConfigureAwait(false))!;
        return ((long)result[0] == 1, (string?)result[1] ?? "", Math.Max(0, (long)result[2]));
    }

    public async Task<bool> RenewAsync(string key, string name, string holder, long ttlMs) =>
        (long)await Db.ScriptEvaluateAsync(RenewScript, [LeaseKey(key, name)], [holder, ttlMs])
            .ConfigureAwait(false) == 1;

    public Task ReleaseAsync(string key, string name, string holder) =>
        Db.ScriptEvaluateAsync(ReleaseScript, [LeaseKey(key, name)], [holder]);

    public async Task SaveAsync(DurableSnapshot snapshot)
    {
        var key = StateKey(snapshot.Key, snapshot.Name);
        await Db.StringSetAsync(key, snapshot.ToBytes()).ConfigureAwait(false);
        await Db.SetAddAsync(IndexKey, key.ToString()).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string key, string name)
    {
        var state = StateKey(key, name);
        await Db.KeyDeleteAsync(state).ConfigureAwait(false);
        await Db.SetRemoveAsync(IndexKey, state.ToString()).ConfigureAwait(false);
    }

    public async Task<DurableSnapshot?> LoadAsync(string key, string name)
    {
        var value = await Db.StringGetAsync(StateKey(key, name)).ConfigureAwait(false);
        return value.IsNull ? null : DurableSnapshot.FromBytes((byte[])value!);
    }

    public async Task<IReadOnlyList<DurableSnapshot>> LoadAllAsync()
    {
        var all = new List<DurableSnapshot>();
        foreach (var member in await Db.SetMembersAsync(IndexKey).ConfigureAwait(false))
        {
            var value = await Db.StringGetAsync((string)member!).ConfigureAwait(false);
            if (!value.IsNull)
            {
                all.Add(DurableSnapshot.FromBytes((byte[])value!));
            }
        }

        return all;
    }
}
