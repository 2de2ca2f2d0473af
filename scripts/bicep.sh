#!/usr/bin/env bash
# Prints the path of a usable Bicep CLI, restoring one if needed.
#   1. `bicep` on PATH wins (a developer's own install, or CI's image).
#   2. Otherwise the NuGet package Azure.Bicep.CommandLine.linux-x64 (pinned below) is restored once with the
#      .NET SDK into .cache/bicep/ (git-ignored). The NuGet feed is the one registry reachable from the build
#      machines; the package ships the self-contained `bicep` executable, so no .NET runtime is needed to run it.
# Idempotent and quiet: the second call only prints the path. Progress and errors go to stderr.
# Usage: bicep="$(bash scripts/bicep.sh)" && "$bicep" build infra/main.bicep
set -euo pipefail

BICEP_VERSION="${BICEP_VERSION:-0.49.2}"
PACKAGE="Azure.Bicep.CommandLine.linux-x64"

if [[ -z "${BICEP_IGNORE_PATH:-}" ]] && command -v bicep >/dev/null 2>&1; then
  command -v bicep
  exit 0
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.cache/bicep"
pkgdir="$cache/packages/$(echo "$PACKAGE" | tr '[:upper:]' '[:lower:]')/$BICEP_VERSION"

find_exe() {
  [[ -d "$pkgdir" ]] || return 1
  find "$pkgdir" -type f -name bicep ! -name '*.*' 2>/dev/null | head -n 1
}

exe="$(find_exe || true)"
if [[ -z "$exe" ]]; then
  command -v dotnet >/dev/null 2>&1 || { echo "scripts/bicep.sh: no bicep on PATH and no dotnet SDK to restore $PACKAGE $BICEP_VERSION" >&2; exit 1; }
  mkdir -p "$cache/restore"
  # A throwaway project whose only job is to download the package (PackageDownload: no dependency resolution).
  cat >"$cache/restore/restore.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net8.0</TargetFramework>
    <EnableDefaultItems>false</EnableDefaultItems>
    <!-- Only the Bicep package is wanted: no targeting packs. -->
    <DisableImplicitFrameworkReferences>true</DisableImplicitFrameworkReferences>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="$PACKAGE" Version="[$BICEP_VERSION]" />
  </ItemGroup>
</Project>
XML
  echo "scripts/bicep.sh: restoring $PACKAGE $BICEP_VERSION into .cache/bicep/ ..." >&2
  DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 \
    dotnet restore "$cache/restore/restore.csproj" --packages "$cache/packages" --verbosity quiet >&2 \
    || { echo "scripts/bicep.sh: dotnet restore of $PACKAGE $BICEP_VERSION failed" >&2; exit 1; }
  exe="$(find_exe || true)"
  [[ -n "$exe" ]] || { echo "scripts/bicep.sh: $PACKAGE $BICEP_VERSION restored but no bicep executable found in $pkgdir" >&2; exit 1; }
fi

chmod +x "$exe"
echo "$exe"
