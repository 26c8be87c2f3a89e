"""Beer et al.'s QuTiP training of dissipative (deep) quantum neural networks, transcribed.

Source
------
K. Beer, D. Bondarenko, T. Farrelly, T. J. Osborne, R. Salzmann, D. Scheiermann and R. Wolf,
"Training deep quantum neural networks", Nature Communications 11, 808 (2020),
doi:10.1038/s41467-020-14454-2.  Their published code is the Jupyter notebook
``DeepQNN-Python.ipynb`` (commit 0dafa2acfddbc3b69ee8e54c623b84140951e953) of the GitHub
repository ``qigitphannover/DeepQuantumNeuralNetworks``; the later ``DQNN_basic.ipynb`` of the
same repository contains the same algorithm code, function for function.  The notebook reports
"Trained 500 rounds for a [2, 3, 2] network and 10 training pairs in 99.63 seconds"
(cost >= 0.95 first at training step 54) and 45.66 s for [1, 2, 1] (>= 0.95 at step 20), all
with lambda = 1, epsilon = 0.1.

The functions below (camelCase, their names) are a line-by-line transcription of sections
1.2-1.4 of the notebook: same operations, same QuTiP calls, in the same order, so that timings
are representative of their implementation.  Only these changes were made:

* QuTiP 5 (tested with qutip 5.3.1, numpy 2.4, scipy 1.17): ``bra * oper * ket`` now returns a
  Python complex instead of a 1x1 ``Qobj``, so ``costFunction`` takes ``.tr()`` only when the
  sum is still a ``Qobj`` (QuTiP 4) and returns the real part (QuTiP 4's ``.tr()`` of that
  Hermitian 1x1 object was real too).  Nothing else needed changing for QuTiP 5; note that
  QuTiP 5 picks its own sparse/dense data layers (``qeye`` is ``Dia``, ``fock(...).proj()`` is
  ``CSR``, products of dense and sparse objects vary) where QuTiP 4 used CSR throughout.
* ``scipy.random`` no longer exists: ``randomQubitUnitary`` and ``randomQubitState`` draw from
  a ``numpy.random.RandomState`` passed in as ``rng`` (their code used the global
  ``scipy.random`` == ``numpy.random`` stream; ``RandomState(seed)`` reproduces exactly the
  stream of ``numpy.random.seed(seed)``, so :func:`random_problem` with a given seed produces
  what their ``randomNetwork`` produces after ``numpy.random.seed(seed)``).
* ``qnnTraining`` also returns the runtime it measures (and prints, as theirs does, unless
  ``verbose=False``); semicolons, and local variables that were assigned but never used,
  dropped; nothing else.
* The notebook's ``makeUpdateMatrixTensored`` is defined with the parameter order
  ``(qnnArch, unitaries, lda, ep, trainingData, storedStates, l, j)`` but called by
  ``qnnTraining`` as ``(qnnArch, unitaries, trainingData, storedStates, lda, ep, l, j)`` and
  itself calls ``makeUpdateMatrix(qnnArch, unitaries, lda, ep, trainingData, storedStates,
  l, j)`` whose signature is ``(qnnArch, unitaries, trainingData, storedStates, lda, ep, l,
  j)``.  The two swaps cancel, so the arguments arrive where they belong; this transcription
  names them consistently instead (no change in behaviour).

Conventions (exactly as in their code)
--------------------------------------
Tensor order.  ``qt.tensor(A, B)`` is ``kron(A, B)``: the first factor is the most significant
("qubit 0 most significant").  Layer ``l`` (``l = 1..L``) with ``m = qnnArch[l-1]`` inputs and
``n = qnnArch[l]`` outputs acts on an ``m + n``-qubit register ordered ``[input 0..m-1,
output 0..n-1]``; outputs start in ``|0...0>``.  Output qubit ``j`` of layer ``l`` is input
qubit ``j`` of layer ``l + 1``.

Perceptrons.  ``unitaries[l][j]`` (``unitaries[0] == []``) is stored as an ``(m+n)``-qubit
``Qobj``: a ``(m+1)``-qubit unitary ``V`` on the qubits ``(input 0, ..., input m-1,
output j)`` in that order (inputs first, output qubit last, first listed = most significant),
embedded as ``swappedOp(tensor(V, I_{n-1}), m, m + j)``.  The layer unitary is
``U^l = U^l_{n-1} ... U^l_1 U^l_0``: perceptron 0 acts first.  The layer channel is
``rho^l = tr_{inputs}(U^l (rho^{l-1} (x) |0..0><0..0|_n) U^l^dag)`` (``partialTraceRem`` removes
qubits ``0..m-1``).  :func:`train` and :func:`random_problem` exchange the ``(m+1)``-qubit
``V`` as a ``(2**(m+1), 2**(m+1))`` numpy array in this ordering.

Backward state sigma.  For pair ``x`` and layer ``l``,
``sigma^l_x = F^{l+1}(... F^L(|phi^out_x><phi^out_x|) ...)`` with the adjoint layer channel
``F^k(X) = tr_{outputs of k}((I_{m_k} (x) |0..0><0..0|) U^k^dag (I_{m_k} (x) X) U^k)``
(``makeAdjointLayerChannel``; the projector multiplies from the left only, which under the
partial trace equals sandwiching ``<0..0| . |0..0>`` on the outputs; qubits ``0..m_k-1`` are
kept).  ``sigma^L_x = |phi^out_x><phi^out_x|``.  It is recomputed from scratch for every
``(l, j, x)``, with the current (pre-update) unitaries.

Update.  For perceptron ``j`` of layer ``l`` (``m`` inputs, ``n`` outputs), with the stored
states of the current feedforward,
``A_x = P (rho^{l-1}_x (x) |0..0><0..0|_n) P^dag`` with ``P = U^l_j ... U^l_0`` and
``B_x = Q^dag (I_m (x) sigma^l_x) Q`` with ``Q = U^l_{n-1} ... U^l_{j+1}`` (identity if
``j = n-1``);
``S = sum_x tr_rest [A_x, B_x]`` (``qt.commutator``; the partial trace keeps the qubits
``[0, ..., m-1, m+j]`` = all inputs and output ``j``, in that order, and traces out the other
outputs), and the update matrix is ``expm(-ep * 2**m / (lda * N) * S)`` (``N`` = number of
training pairs).  ``S`` is anti-Hermitian, so the update is unitary.  It is embedded like a
perceptron (``tensor(., I_{n-1})`` then ``swappedOp(., m, m+j)``) and multiplied from the
left: ``U^l_j <- expm(...) U^l_j``.  All perceptrons of all layers are updated simultaneously
from the same (pre-update) unitaries and stored states; then a new feedforward.  In the paper's
notation ``U <- exp(i ep K) U`` with ``K = 2**m i / (N lda) sum_x tr_rest M``; the notebook's
markdown writes ``2**m i / (2 N lda)``, i.e. the code's step is twice the documented one (code
and markdown disagree by this factor 2; the code is what is transcribed here).

Cost.  ``C = (1/N) sum_x <phi^out_x| rho^out_x |phi^out_x>`` (mean fidelity of the network
output with the target output), recorded once before training (round 0) and after each of the
``trainingRounds`` updates (``trainingRounds + 1`` values).

Random problems.  ``randomQubitUnitary``: complex Ginibre matrix (i.i.d. standard normal real
and imaginary parts) orthonormalised by ``scipy.linalg.orth`` (SVD left factor; Haar up to
LAPACK's column-phase convention).  ``randomQubitState``: complex Gaussian vector, normalised
(Haar-random pure state).  ``randomTrainingData``: ``(psi, V psi)`` for a random target ``V``
on the ``qnnArch[0] == qnnArch[-1]`` input qubits.  ``randomNetwork`` draws the target, then
the ``N`` input states, then the perceptrons layer by layer in perceptron order; for layers
with more than one perceptron it draws one unitary that it throws away before each perceptron
that it keeps (their quirk, kept so the random stream matches).

Run ``python -u benchmarks/peers/beer_qutip.py --arch 2,3,2 --pairs 10 --rounds 500`` to time
their [2,3,2] example.  Measured on the project's 2-core development machine, one BLAS thread,
``random_problem(arch, 10, seed=0)``, lambda = 1, epsilon = 0.1, 500 rounds (training loop as
their ``qnnTraining`` times it): [2,3,2] 17.2 s with qutip 5.3.1 and 44.9 s with qutip 4.7.6
(numpy 1.26, scipy 1.12; the module runs unchanged there), cost 0.2422 / 0.7035 / 0.9826 /
0.9994 / 1.0000 after rounds 0 / 20 / 54 / 100 / 500, first > 0.95 after round 42 (37-43 for
seeds 0-4); [1,2,1] 7.3 s (qutip 5.3.1) and 24.0 s (qutip 4.7.6), first > 0.95 after round 17
(16-24 for seeds 0-4).  Both QuTiP versions give the same costs to ~1e-15.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import qutip as qt
import scipy.linalg

# ket states
qubit0 = qt.basis(2, 0)
qubit1 = qt.basis(2, 1)
# density matrices
qubit0mat = qubit0 * qubit0.dag()
qubit1mat = qubit1 * qubit1.dag()


# ---------------------------------------------------------------------------------------------
# 1.2 Helper functions (their code)
# ---------------------------------------------------------------------------------------------


def partialTraceRem(obj, rem):
    # prepare keep list
    rem.sort(reverse=True)
    keep = list(range(len(obj.dims[0])))
    for x in rem:
        keep.pop(x)
    res = obj
    # return partial trace:
    if len(keep) != len(obj.dims[0]):
        res = obj.ptrace(keep)
    return res


def partialTraceKeep(obj, keep):
    # return partial trace:
    res = obj
    if len(keep) != len(obj.dims[0]):
        res = obj.ptrace(keep)
    return res


def swappedOp(obj, i, j):
    if i == j:
        return obj
    numberOfQubits = len(obj.dims[0])
    permute = list(range(numberOfQubits))
    permute[i], permute[j] = permute[j], permute[i]
    return obj.permute(permute)


def tensoredId(N):
    # Make Identity matrix
    res = qt.qeye(2**N)
    # Make dims list
    dims = [2 for i in range(N)]
    dims = [dims.copy(), dims.copy()]
    res.dims = dims
    # Return
    return res


def tensoredQubit0(N):
    # Make Qubit matrix
    res = qt.fock(2**N).proj()  # For some reason ran faster than fock_dm(2**N) in tests
    # Make dims list
    dims = [2 for i in range(N)]
    dims = [dims.copy(), dims.copy()]
    res.dims = dims
    # Return
    return res


def unitariesCopy(unitaries):
    newUnitaries = []
    for layer in unitaries:
        newLayer = []
        for unitary in layer:
            newLayer.append(unitary.copy())
        newUnitaries.append(newLayer)
    return newUnitaries


# ---------------------------------------------------------------------------------------------
# 1.3 Random generation of unitaries, training data and networks (their code; `rng` replaces
# the removed `scipy.random` module)
# ---------------------------------------------------------------------------------------------


def randomQubitUnitary(numQubits, rng):
    dim = 2**numQubits
    # Make unitary matrix
    res = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    res = scipy.linalg.orth(res)
    res = qt.Qobj(res)
    # Make dims list
    dims = [2 for i in range(numQubits)]
    dims = [dims.copy(), dims.copy()]
    res.dims = dims
    # Return
    return res


def randomQubitState(numQubits, rng):
    dim = 2**numQubits
    # Make normalized state
    res = rng.normal(size=(dim, 1)) + 1j * rng.normal(size=(dim, 1))
    res = (1 / scipy.linalg.norm(res)) * res
    res = qt.Qobj(res)
    # Make dims list
    dims1 = [2 for i in range(numQubits)]
    dims2 = [1 for i in range(numQubits)]
    dims = [dims1, dims2]
    res.dims = dims
    # Return
    return res


def randomTrainingData(unitary, N, rng):
    numQubits = len(unitary.dims[0])
    trainingData = []
    # Create training data pairs
    for _i in range(N):
        t = randomQubitState(numQubits, rng)
        ut = unitary * t
        trainingData.append([t, ut])
    # Return
    return trainingData


def randomNetwork(qnnArch, numTrainingPairs, rng):
    assert qnnArch[0] == qnnArch[-1], "Not a valid QNN-Architecture."

    # Create the targeted network unitary and corresponding training data
    networkUnitary = randomQubitUnitary(qnnArch[-1], rng)
    networkTrainingData = randomTrainingData(networkUnitary, numTrainingPairs, rng)

    # Create the initial random perceptron unitaries for the network
    networkUnitaries = [[]]
    for l in range(1, len(qnnArch)):
        numInputQubits = qnnArch[l - 1]
        numOutputQubits = qnnArch[l]

        networkUnitaries.append([])
        for j in range(numOutputQubits):
            unitary = randomQubitUnitary(numInputQubits + 1, rng)
            if numOutputQubits - 1 != 0:
                unitary = qt.tensor(
                    randomQubitUnitary(numInputQubits + 1, rng), tensoredId(numOutputQubits - 1)
                )
                unitary = swappedOp(unitary, numInputQubits, numInputQubits + j)
            networkUnitaries[l].append(unitary)

    # Return
    return (qnnArch, networkUnitaries, networkTrainingData, networkUnitary)


# ---------------------------------------------------------------------------------------------
# 1.4 QNN code (their code)
# ---------------------------------------------------------------------------------------------


def costFunction(trainingData, outputStates):
    costSum = 0
    for i in range(len(trainingData)):
        costSum += trainingData[i][1].dag() * outputStates[i] * trainingData[i][1]
    # QuTiP 4: costSum is a 1x1 Qobj (their code: costSum.tr()); QuTiP 5: a complex number.
    if isinstance(costSum, qt.Qobj):
        costSum = costSum.tr()
    return float(np.real(costSum)) / len(trainingData)


def makeLayerChannel(qnnArch, unitaries, l, inputState):
    numInputQubits = qnnArch[l - 1]
    numOutputQubits = qnnArch[l]

    # Tensor input state
    state = qt.tensor(inputState, tensoredQubit0(numOutputQubits))

    # Calculate layer unitary
    layerUni = unitaries[l][0].copy()
    for i in range(1, numOutputQubits):
        layerUni = unitaries[l][i] * layerUni

    # Multiply and tensor out input state
    return partialTraceRem(layerUni * state * layerUni.dag(), list(range(numInputQubits)))


def makeAdjointLayerChannel(qnnArch, unitaries, l, outputState):
    numInputQubits = qnnArch[l - 1]
    numOutputQubits = qnnArch[l]

    # Prepare needed states
    inputId = tensoredId(numInputQubits)
    state1 = qt.tensor(inputId, tensoredQubit0(numOutputQubits))
    state2 = qt.tensor(inputId, outputState)

    # Calculate layer unitary
    layerUni = unitaries[l][0].copy()
    for i in range(1, numOutputQubits):
        layerUni = unitaries[l][i] * layerUni

    # Multiply and tensor out output state
    return partialTraceKeep(
        state1 * layerUni.dag() * state2 * layerUni, list(range(numInputQubits))
    )


def feedforward(qnnArch, unitaries, trainingData):
    storedStates = []
    for x in range(len(trainingData)):
        currentState = trainingData[x][0] * trainingData[x][0].dag()
        layerwiseList = [currentState]
        for l in range(1, len(qnnArch)):
            currentState = makeLayerChannel(qnnArch, unitaries, l, currentState)
            layerwiseList.append(currentState)
        storedStates.append(layerwiseList)
    return storedStates


def makeUpdateMatrix(qnnArch, unitaries, trainingData, storedStates, lda, ep, l, j):
    numInputQubits = qnnArch[l - 1]

    # Calculate the sum:
    summ = 0
    for x in range(len(trainingData)):
        # Calculate the commutator
        firstPart = updateMatrixFirstPart(qnnArch, unitaries, storedStates, l, j, x)
        secondPart = updateMatrixSecondPart(qnnArch, unitaries, trainingData, l, j, x)
        mat = qt.commutator(firstPart, secondPart)

        # Trace out the rest
        keep = list(range(numInputQubits))
        keep.append(numInputQubits + j)
        mat = partialTraceKeep(mat, keep)

        # Add to sum
        summ = summ + mat

    # Calculate the update matrix from the sum
    summ = (-ep * (2**numInputQubits) / (lda * len(trainingData))) * summ
    return summ.expm()


def updateMatrixFirstPart(qnnArch, unitaries, storedStates, l, j, x):
    numOutputQubits = qnnArch[l]

    # Tensor input state
    state = qt.tensor(storedStates[x][l - 1], tensoredQubit0(numOutputQubits))

    # Calculate needed product unitary
    productUni = unitaries[l][0]
    for i in range(1, j + 1):
        productUni = unitaries[l][i] * productUni

    # Multiply
    return productUni * state * productUni.dag()


def updateMatrixSecondPart(qnnArch, unitaries, trainingData, l, j, x):
    numInputQubits = qnnArch[l - 1]
    numOutputQubits = qnnArch[l]

    # Calculate sigma state
    state = trainingData[x][1] * trainingData[x][1].dag()
    for i in range(len(qnnArch) - 1, l, -1):
        state = makeAdjointLayerChannel(qnnArch, unitaries, i, state)
    # Tensor sigma state
    state = qt.tensor(tensoredId(numInputQubits), state)

    # Calculate needed product unitary
    productUni = tensoredId(numInputQubits + numOutputQubits)
    for i in range(j + 1, numOutputQubits):
        productUni = unitaries[l][i] * productUni

    # Multiply
    return productUni.dag() * state * productUni


def makeUpdateMatrixTensored(qnnArch, unitaries, trainingData, storedStates, lda, ep, l, j):
    numInputQubits = qnnArch[l - 1]
    numOutputQubits = qnnArch[l]

    res = makeUpdateMatrix(qnnArch, unitaries, trainingData, storedStates, lda, ep, l, j)
    if numOutputQubits - 1 != 0:
        res = qt.tensor(res, tensoredId(numOutputQubits - 1))
    return swappedOp(res, numInputQubits, numInputQubits + j)


def qnnTraining(
    qnnArch, initialUnitaries, trainingData, lda, ep, trainingRounds, alert=0, verbose=True
):
    ### FEEDFORWARD
    # Feedforward for given unitaries
    s = 0
    currentUnitaries = initialUnitaries
    storedStates = feedforward(qnnArch, currentUnitaries, trainingData)

    # Cost calculation for given unitaries
    outputStates = []
    for k in range(len(storedStates)):
        outputStates.append(storedStates[k][-1])
    plotlist = [[s], [costFunction(trainingData, outputStates)]]

    # Optional
    runtime = time.time()

    # Training of the Quantum Neural Network
    for k in range(trainingRounds):
        if alert > 0 and k % alert == 0:
            print("In training round " + str(k))

        ### UPDATING
        newUnitaries = unitariesCopy(currentUnitaries)

        # Loop over layers:
        for l in range(1, len(qnnArch)):
            numOutputQubits = qnnArch[l]

            # Loop over perceptrons
            for j in range(numOutputQubits):
                newUnitaries[l][j] = (
                    makeUpdateMatrixTensored(
                        qnnArch, currentUnitaries, trainingData, storedStates, lda, ep, l, j
                    )
                    * currentUnitaries[l][j]
                )

        ### FEEDFORWARD
        # Feedforward for given unitaries
        s = s + ep
        currentUnitaries = newUnitaries
        storedStates = feedforward(qnnArch, currentUnitaries, trainingData)

        # Cost calculation for given unitaries
        outputStates = []
        for m in range(len(storedStates)):
            outputStates.append(storedStates[m][-1])
        plotlist[0].append(s)
        plotlist[1].append(costFunction(trainingData, outputStates))

    # Optional
    runtime = time.time() - runtime
    if verbose:
        print(
            "Trained "
            + str(trainingRounds)
            + " rounds for a "
            + str(qnnArch)
            + " network and "
            + str(len(trainingData))
            + " training pairs in "
            + str(round(runtime, 2))
            + " seconds"
        )

    # Return
    return [plotlist, currentUnitaries, runtime]


# ---------------------------------------------------------------------------------------------
# Entry points on top of their code (numpy in, numpy out)
# ---------------------------------------------------------------------------------------------


def _perceptron_to_qobj(v: np.ndarray, m: int, n: int, j: int) -> qt.Qobj:
    """Embed an (m+1)-qubit perceptron matrix as their (m+n)-qubit Qobj (as randomNetwork)."""
    v = np.asarray(v, dtype=complex)
    if v.shape != (2 ** (m + 1), 2 ** (m + 1)):
        raise ValueError(f"perceptron matrix has shape {v.shape}, expected {2 ** (m + 1)}^2")
    unitary = qt.Qobj(v)
    unitary.dims = [[2] * (m + 1), [2] * (m + 1)]
    if n - 1 != 0:
        unitary = qt.tensor(unitary, tensoredId(n - 1))
        unitary = swappedOp(unitary, m, m + j)
    return unitary


def _qobj_to_perceptron(u: qt.Qobj, m: int, n: int, j: int) -> np.ndarray:
    """Inverse of :func:`_perceptron_to_qobj`: the (m+1)-qubit block V of swap(V (x) I)."""
    full = swappedOp(u, m, m + j).full()  # a transposition: its own inverse
    d, e = 2 ** (m + 1), 2 ** (n - 1)
    return np.ascontiguousarray(full.reshape(d, e, d, e)[:, 0, :, 0])


def _ket(psi: np.ndarray) -> qt.Qobj:
    psi = np.asarray(psi, dtype=complex).reshape(-1, 1)
    num_qubits = psi.shape[0].bit_length() - 1
    if 2**num_qubits != psi.shape[0]:
        raise ValueError(f"state of length {psi.shape[0]} is not a qubit register")
    res = qt.Qobj(psi)
    res.dims = [[2] * num_qubits, [1] * num_qubits]
    return res


def train(qnn_arch, unitaries, training_data, lda, ep, training_rounds, verbose=False):
    """Train with their ``qnnTraining``; numpy in and out.

    ``unitaries[l][j]`` (``l = 1..L``, ``unitaries[0]`` unused) is the ``(2**(m+1),
    2**(m+1))`` matrix of perceptron ``j`` of layer ``l`` (``m = qnn_arch[l-1]``) on the qubits
    (input 0, ..., input m-1, output j), first listed = most significant; perceptron 0 acts
    first.  ``training_data`` is a sequence of ``(psi_in, psi_out)`` state vectors of length
    ``2**qnn_arch[0]`` (qubit 0 most significant).

    Returns ``(costs, final_unitaries, seconds)``: ``costs`` has ``training_rounds + 1`` mean
    fidelities (round 0 = before any update), ``final_unitaries`` has the layout of
    ``unitaries``, and ``seconds`` is the time their ``qnnTraining`` measures and prints (the
    training loop: updates plus the feedforward and cost after each round; the round-0
    feedforward and the numpy/Qobj conversions are not included).
    """
    qnnArch = [int(k) for k in qnn_arch]
    qunitaries = [[]]
    for l in range(1, len(qnnArch)):
        m, n = qnnArch[l - 1], qnnArch[l]
        if len(unitaries[l]) != n:
            raise ValueError(f"layer {l} has {len(unitaries[l])} perceptrons, expected {n}")
        qunitaries.append([_perceptron_to_qobj(unitaries[l][j], m, n, j) for j in range(n)])
    trainingData = [[_ket(psi_in), _ket(psi_out)] for psi_in, psi_out in training_data]

    plotlist, finalUnitaries, runtime = qnnTraining(
        qnnArch, qunitaries, trainingData, lda, ep, training_rounds, verbose=verbose
    )

    final = [[]]
    for l in range(1, len(qnnArch)):
        m, n = qnnArch[l - 1], qnnArch[l]
        final.append([_qobj_to_perceptron(finalUnitaries[l][j], m, n, j) for j in range(n)])
    return [float(c) for c in plotlist[1]], final, runtime


def random_problem(qnn_arch, n_pairs, seed):
    """A random network and training set drawn exactly as their ``randomNetwork`` draws them.

    Uses ``numpy.random.RandomState(seed)`` (the stream their notebook gets after
    ``numpy.random.seed(seed)``).  Returns ``(unitaries, training_data)`` in the numpy layout
    of :func:`train`: ``unitaries[0] == []``, ``unitaries[l][j]`` an ``(2**(m+1),
    2**(m+1))`` complex array, ``training_data`` a list of ``(psi_in, psi_out)`` complex vectors
    with ``psi_out = V psi_in`` for one Haar-random target ``V`` on ``qnn_arch[0]`` qubits.
    """
    qnnArch = [int(k) for k in qnn_arch]
    # A RandomState, not a Generator: stream-compatible with their global numpy.random draws.
    rng = np.random.RandomState(seed)
    _, networkUnitaries, trainingData, _ = randomNetwork(qnnArch, n_pairs, rng)
    unitaries = [[]]
    for l in range(1, len(qnnArch)):
        m, n = qnnArch[l - 1], qnnArch[l]
        unitaries.append([_qobj_to_perceptron(networkUnitaries[l][j], m, n, j) for j in range(n)])
    data = [(t.full().ravel(), ut.full().ravel()) for t, ut in trainingData]
    return unitaries, data


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="2,3,2", help="comma-separated, e.g. 2,3,2")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--lda", type=float, default=1.0)
    parser.add_argument("--ep", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.95)
    args = parser.parse_args(argv)

    arch = [int(k) for k in args.arch.split(",")]
    unitaries, data = random_problem(arch, args.pairs, args.seed)
    t0 = time.perf_counter()
    costs, _, seconds = train(arch, unitaries, data, args.lda, args.ep, args.rounds, verbose=True)
    wall = time.perf_counter() - t0
    print(f"qutip {qt.__version__}; arch {arch}, {args.pairs} pairs, lda={args.lda}, ep={args.ep}")
    print(f"training loop {seconds:.2f} s (their measure), train() wall {wall:.2f} s")
    for k in (0, 20, 54, 100, args.rounds):
        if k < len(costs):
            print(f"cost after round {k}: {costs[k]:.6f}")
    above = [k for k, c in enumerate(costs) if c > args.threshold]
    print(f"first round with cost > {args.threshold}: {above[0] if above else None}")


if __name__ == "__main__":
    main()
