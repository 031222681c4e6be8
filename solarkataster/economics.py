"""What a roof is worth to the household under it: load profile, self-consumption, battery and payback.

Plain functions, arrays in, numbers out. The hourly PV profile of a building comes from the run's yield
tables (:func:`solarkataster.assessment.building_profiles`); the load is a BDEW standard load profile.

Load profile
------------
The BDEW 2025 standard load profiles shipped with ``demandlib`` [1]_: **H25** (households, dynamised) by
default, **G25** (commerce) where the building's function says commercial (:func:`load_profile_kind`).
They are defined in quarter hours of German local time (Europe/Berlin) by month and day type (working day,
Saturday, Sunday/holiday; the German national holidays are Sundays). :func:`load_profile` evaluates them on
local wall-clock time, maps every UTC quarter hour of the weather's hours to it (so DST is honoured), takes
hourly means and scales the year to the annual consumption.

Default consumption (:func:`default_consumption`)
--------------------------------------------------
About 1,000 kWh per person and year [2]_ (the step between household sizes of the Stromspiegel); persons
from the living area = gross floor area (footprint x storeys, a storey per 3 m of height, at least one)
x 0.8 (net/gross), at 47 m² per person (living area per inhabitant in Germany, 2023, approx. [3]_), at
least one person. A consumption given with the footprints (column ``consumption_kwh``) replaces it.

Battery model (:func:`simulate`)
--------------------------------
* hourly steps;
* PV first serves the load; the surplus charges the battery; any deficit discharges it;
* charge and discharge efficiency 0.95 each (energy stored = 0.95 x energy taken from the surplus; energy
  delivered to the load = 0.95 x energy taken from the store);
* usable capacity as given; the energy taken from the surplus and the energy delivered to the load are
  each at most capacity/2 per hour;
* the battery starts empty at the first record (1 January 00:00 of the weather year).

Self-consumption share = PV energy used on site (directly or via the battery: charged energy) / PV energy.
Autarky share = load covered by PV (directly or from the battery) / load.

Money (:func:`evaluate`)
------------------------
Annual savings = price x (load - grid import) + feed-in tariff x grid export. Investment = cost per kWp
(by system size) x kWp + battery cost per kWh x battery kWh. Simple payback = investment / annual
savings. NPV over ``years`` (20) at ``discount_rate``: -investment + sum over years t = 1..20 of
savings x (1 - degradation)^(t-1) / (1 + discount_rate)^t (degradation scales the whole saving, an
approximation: it lowers self-consumption less than export). No operation cost, no battery replacement,
no price escalation.

Defaults (each a parameter; dated; checked 2026-11-30; rounded values say "approx.")
----------------------------------------------------------------------------------------
========================== ================================ =================================================
parameter                  default                          source
========================== ================================ =================================================
price_eur_kwh              0.37 €/kWh (2026, approx.)       BDEW-Strompreisanalyse 2026 [4]_: household
                                                            average 37.2 ct/kWh incl. VAT (procurement 15.4,
                                                            grid 9.3, taxes and levies 12.6)
feed-in tariff             7.70 / 6.66 / 5.44 ct/kWh for    EEG 2023 partial feed-in (buildings, § 48(2)),
                           the shares up to 10 / 40 /       systems commissioned 2026-08-01 to 2027-01-31:
                           100 kWp                          anzulegende Werte 8.60 / 7.50 / 6.20 ct less
                                                            1 % per half year from 2024-02-01 (§ 49, on
                                                            unrounded values) less 0.4 ct (§ 53) [5]_; the
                                                            step before (from 2026-02-01: 7.78 / 6.73 /
                                                            5.50) is confirmed by pv magazine, 2026-01-30
cost_eur_per_kwp           approx. 1,500 (≤ 10 kWp),        within the 900–1,600 €/kW assumed for rooftop PV
                           1,300 (≤ 40), 1,100 €/kWp        up to 30 kW by Fraunhofer ISE, "Stromgestehungs-
                                                            kosten Erneuerbare Energien" (2024-07) [6]_;
                                                            small systems at the upper end
battery_eur_per_kwh        approx. 750 €/kWh usable         home storage prices, RWTH battery-charts [7]_ and
                                                            Fraunhofer ISE (2024) [6]_, rounded (not
                                                            re-checked for 2026)
degradation                0.5 %/a                          median of Jordan & Kurtz (2013) [8]_
discount_rate              3 %/a (approx.)                  assumption, in the range of the real WACC of
                                                            small PV in Fraunhofer ISE (2024) [6]_
years                      20                               EEG tariff period
========================== ================================ =================================================

The fixed EEG feed-in tariff's state-aid approval ends 2026-12-31; a new EEG may change or drop it for
systems commissioned from 2027 (pv magazine, 2026-01-30). Pass ``feed_in_eur_kwh`` then.

Plausibility (published figures)
--------------------------------
With this model, a house with 10 kWp (south, 35°, 860 kWh/kWp in the default weather) and 4,000 kWh
(H25) reaches 20 % self-consumption and 43 % autarky without a battery, and 76 / 81 / 82 % autarky with
5 / 7.5 / 10 kWh. The ranges quoted for Germany, "25–35 % self-consumption without, 50–70 % autarky with
a battery", come without a system size; they fit systems of about 1 kWp per MWh of consumption. 10 kWp
for 4,000 kWh is 2.5 kWp/MWh, and self-consumption = autarky x load / PV: 25–35 % of 8,600 kWh would need
54–75 % autarky without a battery, while only 49 % of the H25 load falls in hours with any PV at all. At
1 kWp/MWh (4 kWp) the model gives 42 % self-consumption and 36 % autarky without a battery and 58 %
autarky with 4 kWh, against about 54 % for 1 kWp/MWh and 1 kWh/MWh by Weniger et al. [10]_ (1-minute
simulation of measured households); the HTW calculator states ±10 % for site and behaviour [11]_. The
smooth aggregate H25 is not what lifts autarky with a battery: the single-family VDI 4655 reference
profile [9]_ in 1-minute steps (shipped with demandlib) gives nearly the same, 75 / 82 / 84 % with
5 / 7.5 / 10 kWh at 10 kWp; it lowers the no-battery self-consumption from 20 % to 17 %.

References
----------
.. [1] demandlib, BDEW 2025 standard load profiles (H25, G25), https://github.com/oemof/demandlib;
   BDEW, "Standardlastprofile Strom" (2025).
.. [2] co2online, "Stromspiegel für Deutschland 2024/25", https://www.stromspiegel.de.
.. [3] Destatis, "Wohnfläche je Einwohner" (2023), approx. 47 m².
.. [4] BDEW, "BDEW-Strompreisanalyse" (2026), https://www.bdew.de/service/daten-und-grafiken/.
.. [5] EEG 2023 §§ 48, 49, 53; Bundesnetzagentur, "EEG-Förderung und -Fördersätze",
   https://www.bundesnetzagentur.de (tariffs by commissioning date).
.. [6] C. Kost et al., "Stromgestehungskosten Erneuerbare Energien", Fraunhofer ISE (2024-07).
.. [7] J. Figgener et al., "The development of battery storage systems in Germany", RWTH Aachen,
   https://battery-charts.de (2025).
.. [8] D. C. Jordan, S. R. Kurtz, "Photovoltaic degradation rates — an analytical review",
   Prog. Photovolt. 21 (2013), DOI 10.1002/pip.2171.
.. [9] VDI 4655, "Reference load profiles of single-family and multi-family houses for the use of CHP
   systems" (2008), typical days as shipped
   with demandlib (``demandlib.vdi``).
.. [10] J. Weniger, T. Tjaden, V. Quaschning, "Sizing of residential PV battery systems",
   Energy Procedia 46 (2014) 78–87, DOI 10.1016/j.egypro.2014.01.160; HTW Berlin,
   "Unabhängigkeitsrechner", https://solar.htw-berlin.de/rechner/unabhaengigkeitsrechner/.
.. [11] V. Quaschning, "Solarstromspeicher-Unabhängigkeitsrechner" (HTW Berlin),
   https://volker-quaschning.de/software/unabhaengig/ (states ±10 % for site and behaviour).
"""
from __future__ import annotations

import datetime as dt
import functools
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ._kernels.economics import battery as _battery
from .errors import ParameterError, check_range

#: Charge and discharge efficiency of the battery, each way [-].
BATTERY_EFFICIENCY = 0.95
#: Household electricity price, Germany 2026, approx. (BDEW-Strompreisanalyse 2026: 37.2 ct) [€/kWh].
PRICE_EUR_KWH = 0.37
#: EEG 2023 partial feed-in tariffs, systems commissioned 2026-08-01 to 2027-01-31 (module notes):
#: (upper kWp of the band, €/kWh).
FEED_IN_BANDS = ((10.0, 0.0770), (40.0, 0.0666), (100.0, 0.0544))
#: System cost by size, approx. (Fraunhofer ISE 2024: 900-1,600 €/kW up to 30 kW): (upper kWp, €/kWp).
COST_BANDS = ((10.0, 1500.0), (40.0, 1300.0), (np.inf, 1100.0))
#: Battery cost per usable kWh, approx. 2025 (RWTH battery-charts) [€/kWh].
BATTERY_EUR_PER_KWH = 750.0
#: Module degradation [1/a] (Jordan & Kurtz 2013).
DEGRADATION = 0.005
#: Discount rate [1/a] (approx., assumption).
DISCOUNT_RATE = 0.03
#: Years of the NPV.
YEARS = 20
#: Consumption per person [kWh/a] and living area per person [m²] of the default household.
KWH_PER_PERSON = 1000.0
M2_PER_PERSON = 47.0
#: Battery size of the second default case [kWh].
DEFAULT_BATTERY_KWH = 5.0
LOAD_PROFILES = ("H25", "G25")


@dataclass(frozen=True)
class Balance:
    """Energy balance of a year [kWh]: PV, load, direct use, battery charge/discharge, grid export/import."""

    pv: float
    load: float
    direct: float
    charged: float
    discharged: float
    export: float
    grid_import: float

    @property
    def self_consumption_share(self) -> float:
        """PV energy used on site (directly or charged) / PV energy [-] (0 without PV)."""
        return (self.direct + self.charged) / self.pv if self.pv > 0 else 0.0

    @property
    def autarky_share(self) -> float:
        """Load covered by PV, directly or from the battery / load [-]."""
        return (self.direct + self.discharged) / self.load if self.load > 0 else 0.0


# ------------------------------------------------------------------------------------------- load

def german_holidays(year):
    """German nationwide public holidays of ``year`` (dates), Easter by the anonymous Gregorian algorithm."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    easter = dt.date(year, month, day + 1)
    fixed = [dt.date(year, 1, 1), dt.date(year, 5, 1), dt.date(year, 10, 3), dt.date(year, 12, 25),
             dt.date(year, 12, 26)]
    moving = [easter + dt.timedelta(days=k) for k in (-2, 1, 39, 50)]
    return sorted(fixed + moving)


@functools.lru_cache(maxsize=8)
def _local_profile(kind, first_year, last_year):
    """Evaluate the BDEW profile on local quarter hours, 1 Jan ``first_year`` to 2 Jan after ``last_year``."""
    from demandlib import bdew

    index = pd.date_range(f"{first_year}-01-01", f"{last_year + 1}-01-02 23:45", freq="15min")
    days = [d for y in range(first_year, last_year + 2) for d in german_holidays(y)]
    with warnings.catch_warnings():  # demandlib 0.2.2 uses pandas' deprecated inplace keywords
        warnings.simplefilter("ignore")
        return getattr(bdew, kind)(index, holidays={pd.Timestamp(d): "holiday" for d in days})


@functools.lru_cache(maxsize=16)
def _normalised_load(kind, start_ns, n, step_ns):
    times = pd.DatetimeIndex(start_ns + step_ns * np.arange(n), tz="UTC")
    quarters = pd.date_range(times[0].floor("15min"), times[-1] + pd.Timedelta(step_ns, "ns"), freq="15min",
                             inclusive="left")
    local = quarters.tz_convert("Europe/Berlin").tz_localize(None)
    base = _local_profile(kind, int(local.year.min()), int(local.year.max()))
    values = base.reindex(local).to_numpy(float)
    # each quarter hour goes to the record that holds its midpoint
    mid = (quarters + pd.Timedelta(minutes=7.5)).as_unit("ns").asi8
    hours = np.clip(np.searchsorted(times.as_unit("ns").asi8, mid, side="right") - 1, 0, n - 1)
    load = np.bincount(hours, weights=values, minlength=n) / np.maximum(np.bincount(hours, minlength=n), 1)
    load.setflags(write=False)
    return load / load.sum()


def load_profile(times, annual_kwh, kind="H25"):
    """Hourly load of a BDEW 2025 standard load profile [kWh per record], scaled to ``annual_kwh``.

    Parameters
    ----------
    times : pandas.DatetimeIndex
        Interval starts of the records (UTC, constant step of at most one hour), e.g. the weather year's.
    annual_kwh : float
        Consumption over ``times`` [kWh].
    kind : {'H25', 'G25'}
        Household (dynamised) or commercial profile.

    Returns
    -------
    ndarray
        Energy of every record [kWh]; sums to ``annual_kwh``.
    """
    if kind not in LOAD_PROFILES:
        raise ParameterError(f"load profile {kind!r}: use one of {LOAD_PROFILES}")
    check_range("consumption_kwh", annual_kwh, 0, 1e9, " kWh")
    times = pd.DatetimeIndex(times)
    if times.tz is None:
        raise ParameterError("times must be timezone-aware (UTC)")
    times = times.tz_convert("UTC")
    step = times[1] - times[0]
    return float(annual_kwh) * _normalised_load(kind, int(times[0].as_unit("ns").value), len(times),
                                                 int(step.as_unit("ns").value))


def load_profile_kind(function) -> str:
    """'G25' where a building function says commercial, else 'H25'.

    Commercial: ALKIS building function codes 2000–2999 ("Gebäude für Wirtschaft oder Gewerbe", also as
    ``31001_2xxx``), or words such as 'commercial', 'office', 'retail', 'Gewerbe', 'Büro', 'Handel'.
    """
    if function is None or (isinstance(function, float) and not np.isfinite(function)):
        return "H25"
    text = str(function).strip().lower()
    code = text.rsplit("_", 1)[-1].split(".")[0]
    if code.isdigit() and 2000 <= int(code) < 3000:
        return "G25"
    words = ("commercial", "office", "retail", "industr", "gewerbe", "büro", "buero", "handel", "wirtschaft")
    return "G25" if any(w in text for w in words) else "H25"


def default_consumption(footprint_area, height, *, storey_height=3.0, kwh_per_person=KWH_PER_PERSON,
                        m2_per_person=M2_PER_PERSON, net_to_gross=0.8):
    """Default annual consumption of the households of a building [kWh/a] (module notes).

    Parameters
    ----------
    footprint_area : array_like
        Footprint area [m²].
    height : array_like
        Building height above ground [m]; NaN counts as one storey.
    storey_height : float
        Height of one storey [m].
    kwh_per_person : float
        Consumption per person [kWh/a] (approx., Stromspiegel 2024/25).
    m2_per_person : float
        Living area per person [m²] (approx., Destatis 2023).
    net_to_gross : float
        Living area / gross floor area [-].

    Returns
    -------
    ndarray
        Consumption [kWh/a], at least ``kwh_per_person``.
    """
    area = np.nan_to_num(np.asarray(footprint_area, float))
    storeys = np.maximum(np.floor(np.nan_to_num(np.asarray(height, float)) / storey_height), 1.0)
    persons = np.maximum(area * storeys * net_to_gross / m2_per_person, 1.0)
    return persons * kwh_per_person


# ------------------------------------------------------------------------------------------- battery

def simulate(pv, load, battery_kwh=0.0, efficiency=BATTERY_EFFICIENCY):
    """Hourly energy balance of PV, load and a battery (the battery model of the module notes).

    Parameters
    ----------
    pv, load : array_like
        PV and load energy of every hour [kWh], same length.
    battery_kwh : float
        Usable capacity [kWh]; 0 = no battery.
    efficiency : float
        Charge and discharge efficiency, each [-].

    Returns
    -------
    Balance
    """
    pv = np.asarray(pv, float)
    load = np.asarray(load, float)
    if pv.shape != load.shape:
        raise ParameterError(f"pv and load differ in length ({pv.size} vs {load.size})")
    check_range("battery_kwh", battery_kwh, 0, 1e6, " kWh")
    direct = np.minimum(pv, load)
    surplus = pv - direct
    deficit = load - direct
    charged = discharged = 0.0
    if battery_kwh > 0:
        charged, discharged = _battery(surplus, deficit, float(battery_kwh), float(efficiency))
    total_direct = float(direct.sum())
    return Balance(float(pv.sum()), float(load.sum()), total_direct, charged, discharged,
                   float(surplus.sum()) - charged, float(deficit.sum()) - discharged)


# ------------------------------------------------------------------------------------------- money

def _banded(kwp, bands):
    """Size-weighted mean over bands: each band's rate applies to the kWp inside it."""
    kwp = float(kwp)
    if kwp <= 0:
        return bands[0][1]
    total, lower = 0.0, 0.0
    for upper, rate in bands:
        total += max(min(kwp, upper) - lower, 0.0) * rate
        lower = upper
    return total / min(kwp, lower)


def feed_in_tariff(kwp, bands=FEED_IN_BANDS):
    """EEG partial feed-in tariff of a system [€/kWh]: the size-weighted mean of the bands (EEG §48).

    Systems above the last band get the mean over the bands (a simplification: above 100 kWp direct
    marketing applies).
    """
    return _banded(kwp, bands)


def cost_per_kwp(kwp, bands=COST_BANDS):
    """System cost [€/kWp] by size (approx., module notes): the price of the size class of ``kwp``."""
    for upper, rate in bands:
        if float(kwp) <= upper:
            return rate
    return bands[-1][1]


@dataclass(frozen=True)
class Economics:
    """Outcome for one building and one set of inputs (units in the names; shares [-], years [a])."""

    kwp: float
    consumption_kwh: float
    battery_kwh: float
    pv_kwh: float
    self_consumption_share: float
    autarky_share: float
    annual_savings_eur: float
    investment_eur: float
    payback_years: float | None
    npv_eur: float

    def as_dict(self) -> dict:
        """Return the fields as a dict (payback None when savings are not positive)."""
        return asdict(self)


def evaluate(pv, load, kwp, *, battery_kwh=0.0, price_eur_kwh=PRICE_EUR_KWH, feed_in_eur_kwh=None,
             cost_eur_per_kwp=None, battery_eur_per_kwh=BATTERY_EUR_PER_KWH, degradation=DEGRADATION,
             discount_rate=DISCOUNT_RATE, years=YEARS):
    """Self-consumption, autarky, savings, investment, payback and NPV of a PV system (module notes).

    Parameters
    ----------
    pv, load : array_like
        Hourly PV and load energy [kWh].
    kwp : float
        System size [kWp].
    battery_kwh : float
        Usable battery capacity [kWh].
    price_eur_kwh : float
        Electricity price avoided [€/kWh].
    feed_in_eur_kwh : float, optional
        Feed-in tariff [€/kWh]; default :func:`feed_in_tariff` of ``kwp``.
    cost_eur_per_kwp : float, optional
        System cost [€/kWp]; default :func:`cost_per_kwp` of ``kwp``.
    battery_eur_per_kwh : float
        Battery cost [€/kWh usable].
    degradation, discount_rate : float
        Per year [-].
    years : int
        NPV horizon [a].

    Returns
    -------
    Economics
    """
    check_range("price_eur_kwh", price_eur_kwh, 0, 10, " €/kWh")
    check_range("discount_rate", discount_rate, -0.5, 1)
    check_range("degradation", degradation, 0, 0.5)
    feed_in = feed_in_tariff(kwp) if feed_in_eur_kwh is None else float(feed_in_eur_kwh)
    cost = cost_per_kwp(kwp) if cost_eur_per_kwp is None else float(cost_eur_per_kwp)
    check_range("feed_in_eur_kwh", feed_in, 0, 10, " €/kWh")
    check_range("cost_eur_per_kwp", cost, 0, 1e5, " €/kWp")
    bal = simulate(pv, load, battery_kwh)
    savings = price_eur_kwh * (bal.load - bal.grid_import) + feed_in * bal.export
    investment = cost * float(kwp) + battery_eur_per_kwh * float(battery_kwh)
    t = np.arange(1, int(years) + 1)
    npv = -investment + float(np.sum(savings * (1 - degradation) ** (t - 1) / (1 + discount_rate) ** t))
    payback = investment / savings if savings > 0 else None
    return Economics(float(kwp), bal.load, float(battery_kwh), bal.pv, bal.self_consumption_share,
                     bal.autarky_share, float(savings), float(investment), payback, npv)


#: Default-household columns of the buildings layer (suffix ``_5kwh``: with a 5 kWh battery).
HOUSEHOLD_FIELDS = ("self_consumption_share", "autarky_share", "annual_savings_eur", "investment_eur",
                    "payback_years", "npv_eur")


def household_columns(times, roof_profiles, kwp, consumption_kwh, kinds):
    """Default-household economics of buildings: no battery and :data:`DEFAULT_BATTERY_KWH`.

    Parameters
    ----------
    times : pandas.DatetimeIndex
        Interval starts of the profiles (UTC).
    roof_profiles : ndarray, shape (buildings, records)
        Hourly roof AC yield [kWh].
    kwp : array_like
        Roof peak power [kWp].
    consumption_kwh : array_like
        Annual consumption [kWh/a].
    kinds : sequence of str
        Load profile per building ('H25' or 'G25').

    Returns
    -------
    dict
        Column name -> ndarray: :data:`HOUSEHOLD_FIELDS` and the same with suffix ``_5kwh``; NaN where a
        building has no PV.
    """
    n = len(kwp)
    out = {f"{f}{s}": np.full(n, np.nan) for f in HOUSEHOLD_FIELDS for s in ("", "_5kwh")}
    unit = {}  # load profile of 1 kWh/a per kind, once: load_profile(times, c, kind) is exactly c times it
    for i in range(n):
        if not kwp[i] > 0:
            continue
        if kinds[i] not in unit:
            unit[kinds[i]] = load_profile(times, 1.0, kinds[i])
        check_range("consumption_kwh", consumption_kwh[i], 0, 1e9, " kWh")
        load = float(consumption_kwh[i]) * unit[kinds[i]]
        for suffix, battery in (("", 0.0), ("_5kwh", DEFAULT_BATTERY_KWH)):
            e = evaluate(roof_profiles[i], load, kwp[i], battery_kwh=battery)
            for f in HOUSEHOLD_FIELDS:
                value = getattr(e, f)
                out[f + suffix][i] = np.nan if value is None else value
    return out
