using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace Marie.Events.FunctionalTests.Dashboard;

/// <summary>Debian's chromium, headless, driven through Debian's chromedriver (Selenium). Selenium-only: kept out of
/// <c>Infrastructure/</c>, which the CLI tests link into their own build.</summary>
internal sealed class DashboardBrowser : IDisposable
{
    public const string ChromiumPath = "/usr/bin/chromium";
    public const string ChromedriverPath = "/usr/bin/chromedriver";

    /// <summary>A laptop screen: what the page is laid out for, and the screenshot's size.</summary>
    private const int WindowWidth = 1440;
    private const int WindowHeight = 1100;

    /// <summary>How long chromedriver may take to start the browser and answer a command (a loaded CI machine).
    /// </summary>
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    private readonly string _profile;

    private DashboardBrowser(ChromeDriver driver, string profile)
    {
        Driver = driver;
        _profile = profile;
    }

    public ChromeDriver Driver { get; }

    /// <summary>Starts the browser; fails with what to install when chromium or chromedriver is missing.</summary>
    public static DashboardBrowser Start()
    {
        foreach (var path in new[] { ChromiumPath, ChromedriverPath })
        {
            if (!File.Exists(path))
            {
                throw new Xunit.Sdk.XunitException(
                    $"{path} not found: the dashboard's browser tests need Debian's chromium and chromium-driver " +
                    "(test.sh installs them as root; or: sudo apt-get install -y chromium chromium-driver)");
            }
        }

        var service = ChromeDriverService.CreateDefaultService(
            Path.GetDirectoryName(ChromedriverPath)!,
            Path.GetFileName(ChromedriverPath));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var profile = Path.Combine(
            Path.GetTempPath(),
            "marie-events-tests",
            "chromium-" + Guid.NewGuid().ToString("N"));
        var options = new ChromeOptions { BinaryLocation = ChromiumPath };
        options.AddArguments(
            "--headless=new",
            // CI runs the tests as root, where chromium's sandbox cannot start; the page is our own, on loopback.
            "--no-sandbox",
            "--disable-gpu",
            // Containers have a small /dev/shm.
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--force-device-scale-factor=1",
            $"--window-size={WindowWidth},{WindowHeight}",
            "--user-data-dir=" + profile);
        var driver = new ChromeDriver(service, options, CommandTimeout);
        return new DashboardBrowser(driver, profile);
    }

    /// <summary>Waits until <paramref name="condition"/> holds, failing after <paramref name="timeout"/> with
    /// <paramref name="what"/> and the page's status line.</summary>
    public void WaitUntil(Func<IWebDriver, bool> condition, TimeSpan timeout, string what)
    {
        var wait = new WebDriverWait(Driver, timeout);
        wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
        try
        {
            wait.Until(condition);
        }
        catch (WebDriverTimeoutException)
        {
            var status = Driver.FindElements(By.Id("status")).FirstOrDefault()?.Text;
            var error = Driver.FindElements(By.Id("login-error")).FirstOrDefault()?.Text;
            throw new Xunit.Sdk.XunitException(
                $"Timed out after {timeout.TotalSeconds} s waiting for {what} (status: '{status}', error: '{error}')");
        }
    }

    /// <summary>The text of the cell <paramref name="cell"/> (a class) in the row matching
    /// <paramref name="rowSelector"/>, or null when there is no such row. Read in one script, which runs between the
    /// page's own tasks: the page replaces its rows on every refresh, so a row found by one WebDriver command can be
    /// gone by the next.</summary>
    public string? CellText(string rowSelector, string cell) =>
        (string?)((IJavaScriptExecutor)Driver).ExecuteScript(
            "const row = document.querySelector(arguments[0]);"
                + "const td = row && row.querySelector('td.' + arguments[1]);"
                + "return td ? td.innerText.trim() : null;",
            rowSelector,
            cell);

    /// <summary>Types <paramref name="key"/> into the password field and submits.</summary>
    public void LogIn(string key)
    {
        var input = Driver.FindElement(By.Id("admin-key"));
        input.Clear();
        input.SendKeys(key);
        Driver.FindElement(By.Id("login-submit")).Click();
    }

    /// <summary>What the page keeps in sessionStorage.</summary>
    public string? StoredKey() =>
        Driver.ExecuteScript("return sessionStorage.getItem('marie-events-admin-key');") as string;

    public void Dispose()
    {
        Driver.Quit();
        Driver.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
            // A leftover profile folder is harmless.
        }
        catch (UnauthorizedAccessException)
        {
            // Likewise.
        }
    }
}
