namespace Marie.Events.Broker.Connections;

/// <summary>A client message over one of the broker's limits: which (<see cref="Limits.LimitNames"/>), its
/// maximum, what was too much, and the field of the message that carried it.</summary>
internal readonly record struct LimitBreach(string Limit, int Max, string What, string Field);
