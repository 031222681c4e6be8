"""Numba kernel of the battery model (:func:`solarkataster.economics.simulate` is its public wrapper)."""
import numba


@numba.njit(cache=True, nogil=True)
def battery(surplus, deficit, cap, eta):
    """Energy taken from the surplus into the battery and delivered from it to the load [kWh].

    Hourly steps; charge and discharge efficiency ``eta`` each; power limited to ``cap / 2`` per hour; the
    battery starts empty.
    """
    limit = cap / 2.0
    soc = charged = discharged = 0.0
    for k in range(surplus.size):
        if surplus[k] > 0:
            c = min(surplus[k], limit, (cap - soc) / eta)
            soc += c * eta
            charged += c
        elif deficit[k] > 0:
            e = min(deficit[k], limit, soc * eta)
            soc -= e / eta
            discharged += e
    return charged, discharged
