using System.Text;
using Marie.Events.Gateway.Configuration;
using Microsoft.Extensions.Configuration;

namespace Marie.Events.Gateway.Auth;

/// <summary>
/// First-run development keys: when <c>auth.keys</c> is empty, one key per role is created with a CSPRNG and kept
/// in <c>&lt;state_dir&gt;/dev-keys.yml</c> (owner-only file), in the same shape as <c>auth.keys</c> so it can be
/// copied into a configuration file. Later runs load that file.
/// </summary>
internal static class DevKeyStore
{
    public const string FileName = "dev-keys.yml";

    /// <summary>Owner read/write only (mode 600) for the file.</summary>
    private const UnixFileMode FileMode600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Owner only (mode 700) for a state folder the gateway creates.</summary>
    private const UnixFileMode DirMode700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private static readonly (string Name, string Role)[] DevKeys =
    [
        ("dev-admin", "admin"),
        ("dev-publisher", "publisher"),
        ("dev-subscriber", "subscriber"),
    ];

    /// <summary>The full path of the key file under <paramref name="stateDir"/>.</summary>
    public static string PathFor(string stateDir) => Path.GetFullPath(Path.Combine(stateDir, FileName));

    /// <summary>Loads the development keys, creating them first when the file does not exist.</summary>
    /// <returns>The keys, and whether they were created now (then the caller prints them, once).</returns>
    public static (List<ApiKeyOptions> Keys, bool Created) LoadOrCreate(string stateDir)
    {
        var path = PathFor(stateDir);
        if (File.Exists(path))
        {
            return (Load(path), false);
        }

        var keys = DevKeys.Select(k => new ApiKeyOptions
        {
            Name = k.Name,
            ApiKey = ApiKeyFormat.Generate(),
            Roles = [k.Role],
            // Development keys see every topic, so a first run can publish and subscribe to anything.
            Topics = [Broker.Access.ConnectionAccess.AllTopics],
        }).ToList();
        return TryCreate(path, keys) ? (keys, true) : (Load(path), false);
    }

    /// <summary>Reads and validates a key file.</summary>
    /// <exception cref="GatewayConfigurationException">The file is unreadable or holds invalid keys.</exception>
    public static List<ApiKeyOptions> Load(string path)
    {
        var options = new AuthOptions();
        try
        {
            var config = new ConfigurationBuilder().AddYamlFile(path, optional: false, reloadOnChange: false).Build();
            SectionBinder.Bind(config, AuthOptions.Section, options);
        }
        catch (Exception ex) when (
            ex is IOException
                or FormatException
                or InvalidDataException
                or Microsoft.Extensions.Options.OptionsValidationException)
        {
            throw new GatewayConfigurationException(
                $"Cannot read the development keys in {path}: {ex.Message}. Delete the file to get new keys.",
                ex);
        }

        var result = new AuthOptionsValidator().Validate(null, options);
        if (result.Failed || options.Keys.Count == 0)
        {
            var why = result.Failed ? result.FailureMessage : "it holds no key";
            throw new GatewayConfigurationException(
                $"The development keys in {path} are invalid: {why}. Delete the file to get new keys.");
        }

        return options.Keys;
    }

    /// <summary>Writes the file atomically (temporary file, then move). False when another process created it
    /// first.</summary>
    private static bool TryCreate(string path, List<ApiKeyOptions> keys)
    {
        var dir = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(dir))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(dir);
            }
            else
            {
                Directory.CreateDirectory(dir, DirMode700);
            }
        }

        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = FileMode600;
        }

        try
        {
            using (var stream = new FileStream(temp, fileOptions))
            using (var writer = new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false)))
            {
                writer.Write(Render(keys));
            }

            File.Move(temp, path, overwrite: false);
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            return false;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>The file's text. Names and roles are fixed words and keys are base62, so nothing needs
    /// quoting.</summary>
    private static string Render(List<ApiKeyOptions> keys)
    {
        var text = new StringBuilder()
            .AppendLine(
                "# Marie Event Stream: development API keys, created on the gateway's first run because auth.keys")
            .AppendLine("# was empty. Local only: never commit this file. Delete it to get new keys on the next start.")
            .AppendLine("auth:")
            .AppendLine("  keys:");
        foreach (var key in keys)
        {
            text.Append("    - name: ").AppendLine(key.Name)
                .Append("      api_key: ").AppendLine(key.ApiKey)
                .AppendLine("      enabled: true")
                .AppendLine("      roles:")
                .Append("        - ").AppendLine(key.Roles[0])
                .AppendLine("      topics:")
                .AppendLine("        - \"*\"");
        }

        return text.ToString();
    }

    /// <summary>The one-time console block showing new keys.</summary>
    public static void PrintBanner(TextWriter console, string path, IEnumerable<ApiKeyOptions> keys)
    {
        const string rule = "================================================================================";
        var text = new StringBuilder()
            .AppendLine(rule)
            .AppendLine(" Marie Event Stream: no auth.keys configured, so development keys were created.")
            .AppendLine(" They are shown this once; they are kept (mode 600) in:")
            .Append("   ").AppendLine(path)
            .AppendLine();
        foreach (var key in keys)
        {
            text.Append("   ").Append(key.Roles[0].PadRight("subscriber".Length)).Append("  ").AppendLine(key.ApiKey);
        }

        text.AppendLine()
            .AppendLine(" Send one as gRPC metadata:  authorization: Bearer <key>")
            .AppendLine(" For a real deployment, configure auth.keys instead (see docs/configuration.md).")
            .AppendLine(rule);
        console.Write(text.ToString());
        console.Flush();
    }
}
